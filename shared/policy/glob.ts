/**
 * Anchored, case-sensitive glob matching for `subject_pattern`: `*` matches any run of
 * characters (including `:` and `/`), `?` exactly one, everything else itself. There is no
 * escape character and no character class, so a pattern can never be ambiguous.
 *
 * Matching is the classic two-pointer wildcard algorithm, not a regular expression: the worst
 * case is O(pattern × subject) with no backtracking explosion, whatever the pattern.
 */
export function matchGlob(pattern: string, subject: string): boolean {
  const p = Array.from(pattern);
  const s = Array.from(subject);
  let pi = 0;
  let si = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === '?' || (p[pi] !== '*' && p[pi] === s[si]))) {
      pi++;
      si++;
    } else if (pi < p.length && p[pi] === '*') {
      starP = pi++;
      starS = si;
    } else if (starP >= 0) {
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

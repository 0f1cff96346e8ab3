import { describe, expect, it } from 'vitest';
import { matchGlob } from '../../shared/policy/glob.ts';

describe('matchGlob: subject_pattern is an anchored, case-sensitive glob', () => {
  it.each([
    // [pattern, subject, matches, why]
    ['repo:acme/app:ref:refs/heads/main', 'repo:acme/app:ref:refs/heads/main', true, 'a literal pattern matches itself'],
    ['repo:acme/*', 'repo:acme/app:ref:refs/heads/main', true, '* spans : and /'],
    ['repo:acme/*', 'xrepo:acme/app', false, 'reject prefix match without anchors: the start is anchored'],
    ['repo:acme/app', 'repo:acme/app:ref:refs/heads/main', false, 'reject a match of a prefix of the subject: the end is anchored'],
    ['acme/app', 'repo:acme/app:ref:x', false, 'reject a match in the middle of the subject'],
    ['*:ref:refs/heads/main', 'repo:acme/app:ref:refs/heads/main', true, 'a leading * matches a run including separators'],
    ['*:ref:refs/heads/main', 'repo:acme/app:ref:refs/heads/main-old', false, 'a leading * still anchors the end'],
    ['repo:acme/*:ref:refs/heads/main', 'repo:acme/a/b/c:ref:refs/heads/main', true, 'an inner * spans /'],
    ['repo:acme/*:ref:refs/heads/main', 'repo:acme/app:environment:prod:ref:refs/heads/main', true, 'an inner * spans :'],
    ['repo:acme/*', 'repo:acme/', true, '* matches the empty run'],
    ['repo:Acme/*', 'repo:acme/app', false, 'matching is case-sensitive'],
    ['repo:acme/*', 'REPO:ACME/APP', false, 'matching is case-sensitive in the subject too'],
    ['repo:acme/ap?', 'repo:acme/app', true, '? matches exactly one character'],
    ['repo:acme/ap?', 'repo:acme/ap', false, '? does not match zero characters'],
    ['repo:acme/ap?', 'repo:acme/appp', false, '? does not match two characters'],
    ['a?c', 'a/c', true, '? matches a separator'],
    ['a?c', 'a😀c', true, '? matches one character, even one outside the BMP'],
    ['user.name', 'userxname', false, '. is a literal, not a regular-expression wildcard'],
    ['a+b', 'aab', false, '+ is a literal'],
    ['[ab]', 'a', false, 'brackets are literals, not a character class'],
    ['[ab]', '[ab]', true, 'brackets match themselves'],
    ['a\\*', 'a\\xyz', true, 'there is no escape character: \\ is a literal and * still a wildcard'],
    ['^repo$', 'repo', false, '^ and $ are literals'],
    ['', '', true, 'the empty pattern matches only the empty subject'],
    ['', 'a', false, 'the empty pattern does not match a non-empty subject'],
    ['*', '', true, 'a lone * matches the empty subject'],
    ['**', 'anything:at/all', true, 'consecutive stars behave as one'],
    ['*a*b*', 'xxaxxbxx', true, 'several stars match in order'],
    ['*a*b*', 'xxbxxaxx', false, 'several stars do not reorder the literals'],
    ['*ab', 'aab', true, 'a star backtracks to find the last literal run'],
  ])('%j against %j is %s: %s', (pattern, subject, expected) => {
    expect(matchGlob(pattern, subject)).toBe(expected);
  });

  it('returns false for a pathological pattern against a long run of a without blowing up', () => {
    const subject = 'a'.repeat(20_000);
    expect(matchGlob('*a*a*a*a*a*a*b', subject)).toBe(false);
    expect(matchGlob('*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b', subject)).toBe(false);
    expect(matchGlob('*a*a*a*a*a*a*a', subject)).toBe(true);
  });
});

/**
 * Bytes a server allocated on its main isolate over a time window, read from the lines V8 prints
 * with `--trace-gc-nvp`: each GC line carries `allocated=N`, the bytes allocated since the GC
 * before it, and its time since the isolate started. Exact where a sampling heap profile is an
 * estimate, and load-independent: the bench's allocation figure comes from here.
 *
 *   [4242:0x1611b000:0]   1580 ms: pause=1.3 mutator=152.5 gc=s ... allocated=9789152 promoted=0 ...
 */
const GC_LINE = /^\[\d+:(0x[0-9a-f]+):\d+\]\s+(\d+) ms: .*?\ballocated=(\d+)/;

export function allocatedBytes(log: string, fromMs: number, toMs: number): { bytes: number; collections: number } {
  const lines = log.split('\n').flatMap((line) => {
    const m = GC_LINE.exec(line);
    return m ? [{ isolate: m[1]!, ms: Number(m[2]), bytes: Number(m[3]) }] : [];
  });
  // The main isolate is the one that collects most; the SQLite writer thread has its own.
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l.isolate, (counts.get(l.isolate) ?? 0) + 1);
  const main = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  const inWindow = lines.filter((l) => l.isolate === main && l.ms > fromMs && l.ms <= toMs);
  return { bytes: inWindow.reduce((sum, l) => sum + l.bytes, 0), collections: inWindow.length };
}

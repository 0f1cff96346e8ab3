/** The bench's allocation figure (bench/support/allocation.ts): V8's --trace-gc-nvp lines read back. */
import { describe, expect, it } from 'vitest';
import { allocatedBytes } from '../../bench/support/allocation.ts';

const gc = (isolate: string, ms: number, allocated: number) =>
  `[4242:${isolate}:0]   ${String(ms).padStart(6)} ms: pause=1.3 mutator=152.5 gc=s reduce_memory=0 start_object_size=9789152 allocated=${allocated} promoted=0 quarantined_size=0`;

describe('allocatedBytes', () => {
  it('sums the main isolate\'s allocated= of the collections inside the window, ignoring audit lines and other isolates', () => {
    const log = [
      gc('0x1611b000', 100, 1_000),
      '{"type":"audit","decision":"issued","note":"allocated=999999"}',
      gc('0x1611b000', 1_500, 20_000),
      gc('0x2222c000', 1_600, 7_000_000), // the SQLite writer thread's isolate
      gc('0x1611b000', 2_400, 30_000),
      gc('0x1611b000', 3_100, 50_000),
    ].join('\n');
    expect(allocatedBytes(log, 1_000, 3_000)).toEqual({ bytes: 50_000, collections: 2 });
  });

  it('finds nothing in a log without GC lines', () => {
    expect(allocatedBytes('{"type":"audit"}\n', 0, 10_000)).toEqual({ bytes: 0, collections: 0 });
  });
});

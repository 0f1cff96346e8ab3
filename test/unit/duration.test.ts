import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../shared/config/duration.ts';

describe('parseDuration: config durations are integer seconds or <n>h/m/s strings', () => {
  it.each([
    [90, 90],
    [0, 0],
    ['90', 90],
    ['90s', 90],
    ['10m', 600],
    ['1h', 3600],
    ['1h30m', 5400],
    ['1h30m15s', 5415],
    ['0s', 0],
    ['120m', 7200],
  ])('reads %j as %i seconds', (value, seconds) => {
    expect(parseDuration(value)).toBe(seconds);
  });

  it('ignores whitespace around a string duration', () => {
    expect(parseDuration(' 10m ')).toBe(600);
  });

  it.each([
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.MAX_SAFE_INTEGER + 1,
  ])('refuses the number %s: only non-negative safe integers are seconds', (value) => {
    expect(parseDuration(value)).toBeUndefined();
  });

  it.each([
    '',
    's',
    '1.5h',
    '10 m',
    '1d',
    '1H',
    '-5s',
    '+5s',
    'h1',
    '1h 30m',
    'ten minutes',
    '0x10',
    '1e3',
  ])('refuses the string %j', (value) => {
    expect(parseDuration(value)).toBeUndefined();
  });

  it('refuses a duration string whose total is not a safe integer', () => {
    expect(parseDuration('9007199254740993s')).toBeUndefined();
    expect(parseDuration('99999999999999999999')).toBeUndefined();
    expect(parseDuration('3000000000000h')).toBeUndefined();
  });

  it.each([null, undefined, true, {}, ['10m']])('refuses the non-duration value %j', (value) => {
    expect(parseDuration(value)).toBeUndefined();
  });
});

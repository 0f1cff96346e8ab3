import { describe, expect, it } from 'vitest';
import { StsError } from '../../shared/errors.ts';
import { parseReason, parseTokenRequest, REQUEST_LIMITS } from '../../shared/exchange/token-request.ts';

const base = {
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  subject_token: 'a.b.c',
  subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
};

describe('the reason request parameter', () => {
  it('is optional, and an empty or blank reason counts as omitted', () => {
    expect(parseTokenRequest(base).reason).toBeUndefined();
    expect(parseTokenRequest({ ...base, reason: '  \n ' }).reason).toBeUndefined();
  });

  it('keeps a plain sentence as it is', () => {
    expect(parseTokenRequest({ ...base, reason: 'read the logs of run 42 for ticket OPS-7' }).reason).toBe('read the logs of run 42 for ticket OPS-7');
  });

  it('turns newlines, control and bidi-override characters into single spaces, so it cannot forge a log line', () => {
    expect(parseReason('first\n{"type":"audit","decision":"issued"}\r\x1b[31mred\u202Eevil\u2028x')).toBe('first {"type":"audit","decision":"issued"} [31mred evil x');
  });

  it(`refuses a reason longer than ${REQUEST_LIMITS.maxReasonChars} characters with invalid_request rather than truncating it`, () => {
    expect(parseReason('é'.repeat(REQUEST_LIMITS.maxReasonChars))).toHaveLength(REQUEST_LIMITS.maxReasonChars);
    let caught: unknown;
    try {
      parseTokenRequest({ ...base, reason: 'x'.repeat(REQUEST_LIMITS.maxReasonChars + 1) });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StsError);
    expect((caught as StsError).code).toBe('ERR_REQUEST_MALFORMED');
  });
});

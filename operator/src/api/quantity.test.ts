// Table tests for Kubernetes quantities as byte counts. The accepted rows are spellings the
// CRD admits for size fields; the refused rows say which problem is reported.
import { parseQuantity, quantity, quantityBytes, QuantityInvalid } from './quantity.js';

describe('parseQuantity', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['1048576', 1048576],
    ['1Ki', 1024],
    ['4Ki', 4096],
    ['256Mi', 268_435_456],
    ['64Mi', 67_108_864],
    ['16Mi', 16_777_216],
    ['1Gi', 1_073_741_824],
    ['10Gi', 10_737_418_240],
    ['1Ti', 1_099_511_627_776],
    ['2Pi', 2_251_799_813_685_248],
    ['1k', 1000],
    ['1M', 1_000_000],
    ['5G', 5_000_000_000],
    ['3T', 3_000_000_000_000],
    ['2.5G', 2_500_000_000],
    ['1.5Gi', 1_610_612_736],
    ['.5Ki', 512],
    ['1.Mi', 1_048_576],
    ['1000m', 1],
    ['2000000000n', 2],
    ['1e3', 1000],
    ['1E3', 1000],
    ['2e+2', 200],
    ['1000e-3', 1],
    ['+7', 7],
    ['-0', 0],
    ['007Ki', 7168],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
    ['8191Ti', 8191 * 2 ** 40],
  ])('%s is %d bytes', (text, bytes) => {
    const result = parseQuantity(text);
    expect(result).toEqual({ ok: true, quantity: text, bytes });
  });

  it.each([
    ['', 'format'],
    ['lots', 'format'],
    ['1 Gi', 'format'],
    ['1GB', 'format'],
    ['1K', 'format'],
    ['1gi', 'format'],
    ['Gi', 'format'],
    ['1e', 'format'],
    ['1e1.5', 'format'],
    ['1.2.3', 'format'],
    ['0x10', 'format'],
    ['-', 'format'],
    ['.', 'format'],
    [' 1Gi', 'format'],
    ['1Gi ', 'format'],
    ['1'.repeat(65), 'format'],
    ['-1Gi', 'negative'],
    ['-1', 'negative'],
    ['1500m', 'fractional'],
    ['0.5', 'fractional'],
    ['1u', 'fractional'],
    ['1e-1', 'fractional'],
    ['1e-999', 'fractional'],
    ['9007199254740992', 'too-large'],
    ['8Pi', 'too-large'],
    ['1Ei', 'too-large'],
    ['10P', 'too-large'],
    ['1e999', 'too-large'],
  ])('%j is refused as %s', (text, problem) => {
    const result = parseQuantity(text);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problem).toBe(problem);
      expect(result.message.length).toBeGreaterThan(0);
    }
  });

  it('gives zero for a huge exponent of zero rather than refusing it', () => {
    expect(parseQuantity('0e999')).toEqual({ ok: true, quantity: '0e999', bytes: 0 });
  });
});

describe('quantity and quantityBytes', () => {
  it('brands a valid constant and reads its bytes back', () => {
    expect(quantityBytes(quantity('64Mi'))).toBe(67_108_864);
  });

  it('throws a typed, coded error for a bad constant', () => {
    let caught: unknown;
    try {
      quantity('1.5.Gi');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(QuantityInvalid);
    if (caught instanceof QuantityInvalid) {
      expect(caught.code).toBe('QUANTITY_INVALID');
      expect(caught.problem).toBe('format');
      expect(caught.message).toContain('"1.5.Gi"');
    }
  });
});

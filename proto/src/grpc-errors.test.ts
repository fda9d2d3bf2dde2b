// A typed error keeps its stable code across the gRPC edge, both ways.
import { Metadata, status } from '@grpc/grpc-js';
import { BunkerError } from './bunker-error.js';
import { toGrpcError, fromGrpcError } from './grpc-errors.js';

describe('gRPC error mapping', () => {
  it('maps a StaleEpoch error to FAILED_PRECONDITION and back to the same code and hint', () => {
    const wire = toGrpcError(new BunkerError('StaleEpoch', 'epoch 3 is older than 4', { hint: 'reconfigure from the operator' }));
    expect(wire.code).toBe(status.FAILED_PRECONDITION);
    const back = fromGrpcError({ ...wire, message: wire.details, name: 'Error' }, 'append');
    expect(back.code).toBe('StaleEpoch');
    expect(back.hint).toBe('reconfigure from the operator');
    expect(BunkerError.is(back)).toBe(true);
  });

  it('turns a transport failure into Unavailable and an untyped throw into Internal', () => {
    const unavailable = fromGrpcError({ code: status.UNAVAILABLE, details: 'connect refused', metadata: new Metadata(), message: 'x', name: 'Error' }, 'status');
    expect(unavailable.code).toBe('Unavailable');
    expect(toGrpcError(new Error('boom')).code).toBe(status.INTERNAL);
    expect(fromGrpcError(new Error('socket hang up'), 'status').code).toBe('Unavailable');
  });
});

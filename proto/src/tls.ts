// Mutual TLS for every gRPC link (operator → agent, agent → agent). One CA per installation
// signs every certificate; each side presents its own and trusts only that CA. Files are
// watched (grpc-js's FileWatcherCertificateProvider), so a rotated Secret takes effect on new
// connections without a restart; the CA file may hold the old and the new CA during rotation.
//
// The server completes the handshake even for a client without a valid certificate, so that
// it can answer every call with UNAUTHENTICATED (a typed refusal the caller can read) instead
// of a bare connection reset; peerAuthenticated() is checked by every handler.
import { experimental, type ChannelCredentials, type ChannelOptions, type ServerCredentials } from '@grpc/grpc-js';

/** What grpc-js reports of a call's transport (its AuthContext, not exported by name). */
interface CallAuth {
  readonly transportSecurityType?: string;
  readonly sslPeerCertificate?: unknown;
}

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

/** The DNS name in every agent certificate (agents are dialled by IP; the name is what is checked). */
export const TLS_SERVER_NAME = 'bunker-agent';
export const TLS_REFRESH_MS = 30_000;

function provider(files: TlsFiles, refreshIntervalMs: number): experimental.FileWatcherCertificateProvider {
  return new experimental.FileWatcherCertificateProvider({
    certificateFile: files.certFile, privateKeyFile: files.keyFile, caCertificateFile: files.caFile, refreshIntervalMs,
  });
}

export function tlsServerCredentials(files: TlsFiles, refreshIntervalMs = TLS_REFRESH_MS): ServerCredentials {
  const watched = provider(files, refreshIntervalMs);
  return experimental.createCertificateProviderServerCredentials(watched, watched, false);
}

export function tlsChannelCredentials(files: TlsFiles, refreshIntervalMs = TLS_REFRESH_MS): ChannelCredentials {
  const watched = provider(files, refreshIntervalMs);
  return experimental.createCertificateProviderChannelCredentials(watched, watched);
}

export const TLS_CHANNEL_OPTIONS: ChannelOptions = { 'grpc.ssl_target_name_override': TLS_SERVER_NAME, 'grpc.default_authority': TLS_SERVER_NAME };

/** The caller presented a certificate the installation's CA signed (grpc-js reports nothing otherwise). */
export function peerAuthenticated(call: { getAuthContext(): CallAuth | null }): boolean {
  const context = call.getAuthContext();
  return context?.transportSecurityType === 'ssl' && context.sslPeerCertificate !== undefined;
}

/**
 * Why a site could not connect to Temporal, told in terms of its site.yaml: which option to fix.
 * The SDK's errors come from rustls, hyper and tonic ("InvalidCertificate(UnknownIssuer)",
 * "received fatal alert: CertificateRequired"); an operator should not have to decode those to
 * learn that `temporal.tls.caFile` names the wrong CA.
 */
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import type { SiteConfig } from './config.ts';

interface Diagnosis {
  /** The site.yaml key to look at. */
  key: string;
  why: string;
  fix: string;
}

function diagnose(config: SiteConfig, detail: string): Diagnosis | undefined {
  const { tls, apiKeyFile } = config.temporal;
  if (/InvalidCertificate\((UnknownIssuer|BadSignature)\)/.test(detail)) {
    return tls?.caFile
      ? { key: 'temporal.tls.caFile', why: `the server's certificate is not signed by the CA in ${tls.caFile}`, fix: 'Set temporal.tls.caFile to the CA certificate (PEM) that signed the cluster\'s certificate.' }
      : { key: 'temporal.tls.caFile', why: 'the server\'s certificate is not signed by a CA this machine trusts', fix: 'Set temporal.tls.caFile to the CA certificate (PEM) that signed the cluster\'s certificate.' };
  }
  if (/InvalidCertificate\(NotValidForName/.test(detail)) {
    return { key: 'temporal.tls.serverName', why: `the server's certificate is not issued for ${tls?.serverName ?? config.temporal.address.replace(/:[0-9]+$/, '')}`, fix: 'Set temporal.tls.serverName to the host name on the cluster\'s certificate.' };
  }
  if (/InvalidCertificate\(Expired|NotValidYet/.test(detail)) {
    return { key: 'temporal.tls.caFile', why: 'the server\'s certificate is expired or not yet valid', fix: 'Ask the cluster\'s operator to renew it, and check this machine\'s clock.' };
  }
  if (/alert: (CertificateRequired|HandshakeFailure|BadCertificate|UnknownCA|CertificateUnknown|DecryptError)/.test(detail)) {
    return tls?.certFile
      ? { key: 'temporal.tls.certFile', why: `the server refused the client certificate in ${tls.certFile}`, fix: 'Set temporal.tls.certFile and temporal.tls.keyFile to a certificate the cluster accepts (signed by the CA it trusts for clients).' }
      : { key: 'temporal.tls.certFile', why: 'the server requires a client certificate (mTLS) and none is configured', fix: 'Set temporal.tls.certFile and temporal.tls.keyFile to this site\'s client certificate and its key (PEM).' };
  }
  // Under TLS 1.3 the client's handshake is done before the server checks its certificate, so a
  // refused client certificate arrives as a reset connection rather than an alert.
  // The same race decides whether a missing client certificate shows as the alert or as a close.
  const closedDuringSetUp = /ConnectionReset|connection reset|BrokenPipe|broken pipe|UnexpectedEof|close_notify|connection closed|connection was not ready/i.test(detail);
  if (tls?.certFile && closedDuringSetUp) {
    return { key: 'temporal.tls.certFile', why: `the server closed the connection during TLS set-up, as it does when it refuses the client certificate in ${tls.certFile}`, fix: 'Set temporal.tls.certFile and temporal.tls.keyFile to a certificate the cluster accepts (signed by the CA it trusts for clients).' };
  }
  if (tls !== undefined && closedDuringSetUp) {
    return { key: 'temporal.tls.certFile', why: 'the server closed the connection during TLS set-up, as one that requires a client certificate (mTLS) does when none is configured', fix: 'If the cluster uses mTLS, set temporal.tls.certFile and temporal.tls.keyFile to this site\'s client certificate and its key (PEM).' };
  }
  if (/valid authentication credentials|Unauthenticated|PermissionDenied|permission denied/i.test(detail)) {
    return apiKeyFile
      ? { key: 'temporal.apiKeyFile', why: `the server refused the API key in ${apiKeyFile}`, fix: 'Put a valid API key for this namespace in that file (chmod 600).' }
      : { key: 'temporal.apiKeyFile', why: 'the server requires credentials and none are configured', fix: 'Set temporal.apiKeyFile to a file (mode 0600) holding the cluster\'s API key, or configure mTLS under temporal.tls.' };
  }
  if (tls === undefined && (closedDuringSetUp || /frame with invalid size|http2 error/i.test(detail))) {
    return { key: 'temporal.tls', why: 'the server closed the connection, as a TLS endpoint does to a plain one', fix: 'If the cluster uses TLS, add temporal.tls (with caFile unless its CA is publicly trusted).' };
  }
  return undefined;
}

/**
 * The error a site reports when it cannot connect to Temporal: the option to fix when the cause is
 * recognisable (TLS, mTLS, API key), else the address and what to check. Never holds a secret.
 */
export function temporalConnectionError(config: SiteConfig, err: unknown): ParleyError {
  const detail = err instanceof Error ? err.message : String(err);
  const found = diagnose(config, detail);
  const where = `Temporal at ${config.temporal.address}`;
  if (found) {
    return new ParleyError(
      ErrorCode.Unavailable,
      `Could not connect to ${where}: ${found.why} (${found.key} in ${config.file}). ${found.fix}\n  (${detail})`,
      { address: config.temporal.address, key: found.key },
      { cause: err },
    );
  }
  return new ParleyError(
    ErrorCode.Unavailable,
    `Temporal did not answer at ${config.temporal.address} (temporal.address in ${config.file}): ${detail}. Check the address, the TLS settings and that the cluster is up.`,
    { address: config.temporal.address, key: 'temporal.address' },
    { cause: err },
  );
}

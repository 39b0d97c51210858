/**
 * Certificates a test makes for itself with the openssl CLI: a CA, a server certificate for
 * 127.0.0.1 and localhost, and a client certificate, all signed by that CA, plus a second CA
 * and a client certificate it signed (to show refusals both ways).
 * P-256 keys, v3 extensions with subjectAltName: what rustls (the Temporal SDK's TLS) accepts.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  dir: string;
  /** The CA that signed the server and client certificates (PEM file). */
  caFile: string;
  /** A CA that signed neither. */
  otherCaFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** A client certificate signed by the other CA: one an mTLS server must refuse. */
  strangerCertFile: string;
  strangerKeyFile: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const { stderr } = err as { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${stderr ?? (err as Error).message}`);
  }
}

async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', key, '-out', cert, '-subj', `/CN=Parley test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert, key };
}

async function makeLeaf(dir: string, name: string, ca: { cert: string; key: string }, extensions: string[]): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  await writeFile(ext, `${['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', ...extensions].join('\n')}\n`);
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-out', cert, '-extfile', ext]);
  return { cert, key };
}

/** Makes the CA, the server and client certificates, and an unrelated CA, in `dir`. */
export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  const ca = await makeCa(dir, 'ca');
  const other = await makeCa(dir, 'other-ca');
  const server = await makeLeaf(dir, 'server', ca, ['extendedKeyUsage=serverAuth', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  const client = await makeLeaf(dir, 'site-client', ca, ['extendedKeyUsage=clientAuth']);
  const stranger = await makeLeaf(dir, 'stranger-client', other, ['extendedKeyUsage=clientAuth']);
  return {
    dir,
    caFile: ca.cert,
    otherCaFile: other.cert,
    serverCertFile: server.cert,
    serverKeyFile: server.key,
    clientCertFile: client.cert,
    clientKeyFile: client.key,
    strangerCertFile: stranger.cert,
    strangerKeyFile: stranger.key,
  };
}

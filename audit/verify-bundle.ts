/**
 * `parley audit verify`'s core: every history of a bundle verified with the public keys the
 * bundle carries (or others the auditor supplies). No private key is used or needed.
 */
import type { OrgPublicKeys } from '../crypto/index.ts';
import type { BundlePayloads } from './audit-bundle.ts';
import { verifyHistory, type HistoryToVerify } from './verify-history.ts';
import type { VerifyReport } from './verify-findings.ts';

/**
 * Verifies each history in turn (older runs' blob references and detached bodies against
 * `payloads`); the report lists every finding, in history order.
 */
export async function verifyHistories(histories: HistoryToVerify[], publicKeys: Readonly<Record<string, OrgPublicKeys>>, payloads: BundlePayloads = {}): Promise<VerifyReport> {
  const report: VerifyReport = { histories: [], findings: [] };
  for (const history of histories) {
    const { verified, findings } = await verifyHistory(history, publicKeys, payloads);
    report.histories.push(verified);
    report.findings.push(...findings);
  }
  return report;
}

/**
 * `parley site start`: the site worker, from its configuration. On SIGTERM or SIGINT it stops
 * taking steps, lets running ones finish within the grace period, cancels the rest (their
 * containers are killed and removed) and exits 0.
 */
import { loadSiteConfig } from '../../workers/site/config.ts';
import { startSiteProcess } from '../../workers/site/process.ts';
import { createSiteLog, installSiteRuntime } from '../../workers/site/log.ts';
import { parseVerb } from '../lib/session.ts';
import { CONFIG_OPTION, configPath, type SiteVerb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley site start [--config FILE] [--json-logs]',
  '',
  'Runs this site\'s worker: checks the keys, datasets and credential the configuration names,',
  'connects to Temporal (TLS, mTLS and API key as configured), removes containers and volumes',
  'left by an earlier crash, and runs allowed images for the runs this site takes part in.',
  'SIGTERM or Ctrl-C stops it cleanly after at most shutdownGraceSeconds.',
  '',
  '  --config FILE  the site configuration (default: ./site.yaml)',
  '  --json-logs    log JSON lines (time, level, message, fields) on stderr',
].join('\n');

export const siteStart: SiteVerb = {
  verb: 'start',
  summary: 'run the site worker until SIGTERM or Ctrl-C',
  usage,
  async run(argv, io) {
    const { values } = parseVerb(argv, 'start', [], { ...CONFIG_OPTION, 'json-logs': { type: 'boolean', default: false } });
    const config = await loadSiteConfig(configPath(values.config));
    const log = createSiteLog(io.err, { json: values['json-logs'] });
    installSiteRuntime(log, io.env.PARLEY_LOG_LEVEL === 'debug' ? 'DEBUG' : 'INFO');
    if (io.signal.aborted) return 0;
    const site = await startSiteProcess(config, log);
    const stop = () => site.stop();
    io.signal.addEventListener('abort', stop, { once: true });
    // A signal that came while starting up: stop as soon as the worker exists.
    if (io.signal.aborted) stop();
    try {
      await site.run();
    } finally {
      io.signal.removeEventListener('abort', stop);
    }
    log('info', 'site worker stopped', { org: config.organisation });
    return 0;
  },
};

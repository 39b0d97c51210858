/**
 * A hostile test analysis: writes `args.content` as it is to `args.file` (default
 * statistics.json) in the run volume, for a secure sum to add — a `{ layout, values }` that skips
 * the analysis image's own disclosure check (a count below the threshold, a relabelled layout),
 * so the tests can show the finishing site's worker refuses it all the same. Not for production
 * allow-lists.
 */
import { args, writeVolumeJson } from '#parley';

writeVolumeJson(args.file ?? 'statistics.json', args.content);

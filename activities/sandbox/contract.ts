/**
 * The algorithm container contract (DESIGN.md) as constants: where things appear inside the
 * container, who the algorithm runs as, and the labels every container and volume carries.
 * Image builders (algorithms/) and the site's sandbox (activities/sandbox/) share these so the
 * two sides cannot drift apart.
 */

/**
 * The unprivileged user every algorithm runs as. A fixed numeric id (not a name) so the engine
 * needs no /etc/passwd lookup to drop root, and so a run volume's owner means the same thing in
 * every image.
 */
export const SANDBOX_USER = { name: 'parley', uid: 10001, gid: 10001 } as const;

/** Paths inside the container. */
export const ContainerPath = {
  /** Parent of the read-only dataset mounts: `/data/<dataset>`. */
  Data: '/data',
  /** The run volume, private to (run, site), kept across the run's steps at the site. */
  Volume: '/run/parley/volume',
  /** The step's inputs, already opened by the site worker; read-only. */
  Input: '/run/parley/input',
  /** The site worker's API for this step, a Unix socket bind-mounted as a single file. */
  Socket: '/run/parley/node.sock',
  /** The algorithm's code; the entry point is `/app/main.js`. */
  App: '/app',
} as const;
export type ContainerPath = (typeof ContainerPath)[keyof typeof ContainerPath];

/** Labels on every container, volume and image Parley creates, so sweeps can find them. */
export const Label = {
  Run: 'parley.run',
  Site: 'parley.site',
  Step: 'parley.step',
  /** On containers and volumes: the process that made them, `<host>/<pid>` (owner.ts); sweeps spare a live one's. */
  Owner: 'parley.owner',
  /** On images: `base` or `algorithm`. */
  Role: 'parley.role',
  /** On algorithm images: the algorithm's name. */
  Algorithm: 'parley.algorithm',
} as const;
export type Label = (typeof Label)[keyof typeof Label];

/** A dataset's name as it appears under /data: one path segment, never `.` or `..`. */

/**
 * Reads PostgreSQL's SQLSTATE and constraint name out of an error from either driver, so callers
 * can turn a unique violation into a 409 without caring whether PGlite or postgres.js raised it.
 * Drizzle wraps driver errors in a DrizzleQueryError whose message carries the query parameters
 * (password hashes, credential hashes): never log that message; use what this returns.
 */

/** The SQLSTATE codes Parley acts on. */
export const PgCode = {
  UniqueViolation: '23505',
  ForeignKeyViolation: '23503',
  CheckViolation: '23514',
  RestrictViolation: '23001',
} as const;

/** What a PostgreSQL error says, without its message or parameters. */
export interface PgErrorInfo {
  /** SQLSTATE, e.g. `23505`. */
  code: string;
  /** The violated constraint or index, when the server named one. */
  constraint: string | undefined;
}

/** Finds the PostgreSQL error in `err`'s cause chain; undefined when there is none. */
export function pgErrorOf(err: unknown): PgErrorInfo | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    const candidate = current as { code?: unknown; constraint?: unknown; constraint_name?: unknown; cause?: unknown };
    if (typeof candidate.code === 'string' && /^[0-9A-Z]{5}$/.test(candidate.code)) {
      const constraint = candidate.constraint_name ?? candidate.constraint;
      return { code: candidate.code, constraint: typeof constraint === 'string' ? constraint : undefined };
    }
    current = candidate.cause;
  }
  return undefined;
}

/** True when `err` is a unique violation, optionally of the named constraint or index. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const info = pgErrorOf(err);
  return info?.code === PgCode.UniqueViolation && (constraint === undefined || info.constraint === constraint);
}

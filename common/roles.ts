/**
 * A user's role: what the API lets them do. One closed set for the database's check constraint,
 * the API's guards and schemas, the API client and `parley user create`.
 */
export const UserRole = {
  Admin: 'admin',
  Researcher: 'researcher',
  SiteOperator: 'site_operator',
  Auditor: 'auditor',
} as const;
export type UserRole = (typeof UserRole)[keyof typeof UserRole];

/** Every role, in the order people are told about them. */
export const USER_ROLES: readonly UserRole[] = Object.values(UserRole);

/** Whether `value` names a role (a token's claim, a command-line flag). */
export function isUserRole(value: unknown): value is UserRole {
  return typeof value === 'string' && (USER_ROLES as readonly string[]).includes(value);
}

export function tokenLifetimeSeconds(): number {
  return 15 * 60;
}

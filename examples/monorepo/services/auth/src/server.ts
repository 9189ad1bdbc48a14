import { tokenLifetimeSeconds } from "@acme/common";

export const config = { port: 8080, tokenLifetime: tokenLifetimeSeconds() };

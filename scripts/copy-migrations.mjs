// Copies a service's drizzle-kit migrations next to its compiled code (dist/db/migrations),
// where the service looks for them at start.
import { cpSync, existsSync } from "node:fs";

const from = "src/db/migrations";
if (existsSync(from)) cpSync(from, "dist/db/migrations", { recursive: true });

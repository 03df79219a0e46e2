import { serviceMain } from "@redup/kit";
import { loadConfig, migrateMessages, startMessages } from "./index.js";

serviceMain({ service: "messages", loadConfig: () => loadConfig(), start: startMessages, migrate: migrateMessages });

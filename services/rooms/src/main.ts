import { serviceMain } from "@redup/kit";
import { loadConfig, migrateRooms, startRooms } from "./index.js";

serviceMain({ service: "rooms", loadConfig: () => loadConfig(), start: startRooms, migrate: migrateRooms });

import { serviceMain } from "@redup/kit";
import { loadConfig, migrateDelivery, startDelivery } from "./index.js";

serviceMain({ service: "delivery", loadConfig: () => loadConfig(), start: (config, logger) => startDelivery(config, logger), migrate: migrateDelivery });

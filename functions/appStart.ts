import { app } from "@azure/functions";
import { loadConfig } from "../shared/config.js";

/**
 * When the host starts: reads and checks every setting, so that a bad one fails the deployment's
 * start-up, naming the setting, rather than the first timer run at night.
 */
export function appStart(): void {
  loadConfig();
}

app.hook.appStart(appStart);

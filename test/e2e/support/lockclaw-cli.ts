/** Runs the lockclaw CLI from source (under tsx), so e2e tests need no build step. */
import { main } from "../../../src/cli/main.js";

process.exitCode = await main(process.argv);

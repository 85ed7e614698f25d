#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/src/cli (built by `npm run build`).
import { main } from "../dist/src/cli/main.js";

process.exitCode = await main(process.argv);

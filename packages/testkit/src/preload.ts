import { setDefaultTimeout } from "bun:test";

// bun:test silently ignores bunfig.toml's [test] timeout: the default is set here (or with --timeout); integration tests start real processes.
setDefaultTimeout(60_000);

import { setDefaultTimeout } from "bun:test";

// bunfig's [test] timeout is ignored (FIELD-NOTES); integration tests start real processes.
setDefaultTimeout(60_000);

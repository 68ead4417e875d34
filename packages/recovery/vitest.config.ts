import { elitekvVitestConfig } from "@elitekv/vitest-config";

export default elitekvVitestConfig();

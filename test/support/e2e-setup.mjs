// The end-to-end project runs the built agent (agent/dist), as a user would: build it first
// (incremental, seconds when nothing changed).
import { execFileSync } from 'node:child_process';

export default function e2eSetup() {
  execFileSync('npx', ['tsc', '-b'], { stdio: 'inherit' });
}

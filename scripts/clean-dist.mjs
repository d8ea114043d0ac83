// Empties the package's dist/ before a build, so a module whose source was deleted or renamed is never
// left behind to be packed and published. Run from a package directory (its `build` script).
import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });

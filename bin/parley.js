#!/usr/bin/env node
// The `parley` command. Parley is TypeScript run through tsx's loader: no build step, no build
// output in the tree, and the same sources the tests run.
import { register } from 'tsx/esm/api';

register();
await import('../cli/entry.ts');

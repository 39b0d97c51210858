import { describe, expect, it } from 'vitest';
import { WorkflowName } from '../../common/workflow-names.ts';
import * as workflows from '../../workflows/index.ts';

describe('the workflow names callers start', () => {
  it('are exactly the workflows the coordinator bundles, so a start by name finds its workflow', () => {
    const bundled = Object.entries(workflows).filter(([, value]) => typeof value === 'function').map(([name]) => name);
    expect(bundled.sort()).toEqual(Object.values(WorkflowName).sort());
  });
});

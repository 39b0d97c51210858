/** Every workflow the coordinator runs; the bundle entry point. */
export { secureSumRingWorkflow } from './secure-sum-ring.ts';
export { secureSumAdditiveWorkflow } from './secure-sum-additive.ts';
export { chainWorkflow } from './chain.ts';
export type { SecureSumInput, SecureSumResult, StepReport } from './secure-sum-ring.ts';

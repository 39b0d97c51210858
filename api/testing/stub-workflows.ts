/** The stand-in workflows the API's tests register on parley.coordinator (one bundle for both). */
export { chainWorkflow } from './stub-chain-workflow.ts';
export { secureSumRingWorkflow } from './stub-ring-workflow.ts';

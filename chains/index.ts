/**
 * Chains as data: the chain file format (YAML or JSON), its validation with line:column problems,
 * the published JSON Schema, resolution into the ChainSpec the chain workflow runs, and the
 * schema the API checks a ChainSpec with. Pure code: used by cli/ and api/, never by workflows/.
 */
export { ChainFileSchema, DEFAULT_MODULUS, isContainerStepFile, isLinkStepFile, isSecureSumStepFile, isVerticalStepFile } from './chain-file-schema.ts';
export type { ChainFile, ChainStepFile, ContainerStepFile, LinkStepFile, SecureSumStepFile } from './chain-file-schema.ts';
export { MIN_SECURE_SUM_SITES, checkChainRules } from './chain-rules.ts';
export type { ChainProblem } from './chain-rules.ts';
export { ChainSpecSchema, PinnedImageSchema, specStepShapes } from './chain-spec-schema.ts';
export { locateInChainFile, parseChainFile } from './parse-chain-file.ts';
export type { ChainFileProblem, ParsedChainFile } from './parse-chain-file.ts';
export { LINK_IMAGE, SECURE_SUM_IMAGES, VERTICAL_IMAGE, resolveChain } from './resolve-chain.ts';
export { repositoryOf } from '../common/image-name.ts';
export type { ResolveImage, ResolveOptions, ResolvedChain } from './resolve-chain.ts';

import { describe, expect, it } from 'vitest';
import { assertAllowed } from './allow-list.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;
const allowed = [{ name: 'parley/preprocess:0f4484958d986d45', digest: DIGEST }];
const where = { org: 'north', step: 'preprocess' };

describe('assertAllowed', () => {
  it('allows the allowed repository with the allowed digest, whatever the tag says', () => {
    expect(() => assertAllowed(allowed, { name: 'parley/preprocess', digest: DIGEST }, where)).not.toThrow();
    expect(() => assertAllowed(allowed, { name: 'parley/preprocess:latest', digest: DIGEST }, where)).not.toThrow();
  });

  it('refuses another digest under the allowed name, naming the image and how to allow it', () => {
    expect(() => assertAllowed(allowed, { name: 'parley/preprocess', digest: OTHER }, where)).toThrow(
      expect.objectContaining({ code: 'ERR_IMAGE_NOT_ALLOWED', message: expect.stringContaining('parley site allow parley/preprocess') }),
    );
  });

  it('refuses the allowed digest under another repository name', () => {
    expect(() => assertAllowed(allowed, { name: 'parley/analyse', digest: DIGEST }, where)).toThrow(expect.objectContaining({ code: 'ERR_IMAGE_NOT_ALLOWED' }));
    expect(() => assertAllowed(allowed, { name: 'registry:5000/parley/preprocess', digest: DIGEST }, where)).toThrow(expect.objectContaining({ code: 'ERR_IMAGE_NOT_ALLOWED' }));
  });
});

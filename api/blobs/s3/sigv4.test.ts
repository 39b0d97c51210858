/**
 * The worked examples of "Authenticating Requests: Using the Authorization Header (AWS Signature
 * Version 4)", https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 * ("Examples: Signature Calculations"): bucket examplebucket in us-east-1, signed at
 * 20130524T000000Z with AWS's example key pair.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EMPTY_SHA256, amzDate, canonicalQuery, encodePath, signRequest } from './sigv4.ts';

const scope = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', region: 'us-east-1' };
const at = new Date('2013-05-24T00:00:00Z');
const host = 'examplebucket.s3.amazonaws.com';
const base = { host, 'x-amz-date': '20130524T000000Z' };

describe('AWS Signature Version 4 (S3 examples)', () => {
  it('signs "Example: GET Object" (a range of test.txt)', () => {
    const signed = signRequest({
      method: 'GET', path: encodePath('/test.txt'),
      headers: { ...base, range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY_SHA256 }, payloadHash: EMPTY_SHA256,
    }, scope, at);
    expect(signed.canonicalRequest).toBe([
      'GET', '/test.txt', '',
      'host:examplebucket.s3.amazonaws.com', 'range:bytes=0-9', `x-amz-content-sha256:${EMPTY_SHA256}`, 'x-amz-date:20130524T000000Z', '',
      'host;range;x-amz-content-sha256;x-amz-date', EMPTY_SHA256,
    ].join('\n'));
    expect(signed.stringToSign).toBe('AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972');
    expect(signed.signature).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    expect(signed.authorization).toBe('AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });

  it('signs "Example: PUT Object" (a key with $ in it, the payload\'s hash signed)', () => {
    const payloadHash = createHash('sha256').update('Welcome to Amazon S3.').digest('hex');
    expect(payloadHash).toBe('44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072');
    const signed = signRequest({
      method: 'PUT', path: encodePath('/test$file.text'),
      headers: { ...base, date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY', 'x-amz-content-sha256': payloadHash }, payloadHash,
    }, scope, at);
    expect(signed.canonicalRequest.split('\n')[1]).toBe('/test%24file.text');
    expect(signed.signature).toBe('98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd');
  });

  it('signs "Example: GET Bucket Lifecycle" (a query parameter without a value)', () => {
    const signed = signRequest({
      method: 'GET', path: '/', query: [['lifecycle', '']],
      headers: { ...base, 'x-amz-content-sha256': EMPTY_SHA256 }, payloadHash: EMPTY_SHA256,
    }, scope, at);
    expect(signed.canonicalRequest.split('\n')[2]).toBe('lifecycle=');
    expect(signed.signature).toBe('fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543');
  });

  it('signs "Example: Get Bucket (List Objects)" (query parameters sorted by name)', () => {
    const signed = signRequest({
      method: 'GET', path: '/', query: [['prefix', 'J'], ['max-keys', '2']],
      headers: { ...base, 'x-amz-content-sha256': EMPTY_SHA256 }, payloadHash: EMPTY_SHA256,
    }, scope, at);
    expect(signed.canonicalRequest.split('\n')[2]).toBe('max-keys=2&prefix=J');
    expect(signed.signature).toBe('34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
  });
});

describe('SigV4 canonical forms', () => {
  it('encodes all but the unreserved characters, UTF-8 bytes in upper-case hex, keeping slashes only in paths', () => {
    expect(encodePath('/a b/ü+~._-')).toBe('/a%20b/%C3%BC%2B~._-');
    expect(canonicalQuery([['continuation-token', 'a/b=c'], ['delimiter', '/']])).toBe('continuation-token=a%2Fb%3Dc&delimiter=%2F');
    expect(amzDate(new Date('2026-01-02T03:04:05.678Z'))).toBe('20260102T030405Z');
  });

  it('refuses to sign without a host or with an x-amz-date other than the signing time', () => {
    const request = { method: 'GET', path: '/', headers: { 'x-amz-date': '20130524T000000Z' }, payloadHash: EMPTY_SHA256 };
    expect(() => signRequest(request, scope, at)).toThrow(TypeError);
    expect(() => signRequest({ ...request, headers: { host, 'x-amz-date': '20130525T000000Z' } }, scope, at)).toThrow(/x-amz-date/);
  });

  it('puts nothing of the secret in what it returns', () => {
    const signed = signRequest({ method: 'GET', path: '/', headers: { ...base }, payloadHash: EMPTY_SHA256 }, scope, at);
    expect(JSON.stringify(signed)).not.toContain(scope.secretAccessKey);
  });
});

// Uploads a file cut into chunk files with the official Node client's
// delegated upload session (the one that sends each chunk's videoId):
// node upload.js BASE-URL TOKEN CHUNK-FILE... Trust the sandbox's
// certificate with NODE_EXTRA_CA_CERTS.
const ApiVideoClient = require('@api.video/nodejs-client');

async function main() {
  const [, , baseUri, token, ...parts] = process.argv;
  const client = new ApiVideoClient({ baseUri });
  const session = client.videos.createUploadWithUploadTokenProgressiveSession(token);
  for (let i = 0; i < parts.length - 1; i++) {
    await session.uploadPart(parts[i]);
  }
  await session.uploadLastPart(parts[parts.length - 1]);
}

main().catch((err) => {
  console.error(err && err.message ? err.message : err);
  process.exit(1);
});

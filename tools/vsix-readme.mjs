// Writes the README that goes into the VSIX (out/vsix/README.md), from README.md:
//  - images are embedded as data: URLs. The extension's details page in VS Code renders the
//    README under a Content-Security-Policy of `img-src https: data:`, so a relative image never
//    shows and an https one needs internet (and a published repository); data: always shows.
//  - relative links (docs/*.md, CONTRIBUTING.md) point to the repository in package.json: the
//    details page opens only http(s) links, and the Marketplace page has no other files.
// README.md itself keeps relative paths, which GitHub and editors show as they are.
// Usage: node tools/vsix-readme.mjs [OUT]   (run by `npm run package`)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, extname, posix } from 'node:path';

const out = process.argv[2] ?? 'out/vsix/README.md';
const manifest = JSON.parse(readFileSync('package.json', 'utf8'));
const repositoryUrl =
  typeof manifest.repository === 'string' ? manifest.repository : manifest.repository?.url;
const repository = repositoryUrl?.replace(/^git\+/, '').replace(/\.git$/, '');
if (!repository || !/^https:\/\//.test(repository)) {
  console.error(
    `vsix-readme: package.json needs "repository" with an https URL (got ${JSON.stringify(repositoryUrl)})`,
  );
  process.exit(1);
}

const MIME = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
};
const isRelative = (target) => !/^[a-z][\w+.-]*:/i.test(target) && !target.startsWith('#');
const problems = [];

const readme = readFileSync('README.md', 'utf8');
// [text](target) and ![alt](target "title"); code blocks hold no links in this README, and a
// target with spaces or parentheses is not used.
const result = readme.replace(
  /(!?)\[([^\]]*)\]\(([^)\s]+)((?:\s+"[^"]*")?)\)/g,
  (all, bang, text, target, title) => {
    if (!isRelative(target)) return all;
    const [file, anchor] = target.split('#');
    const path = posix.normalize(file);
    if (bang) {
      const mime = MIME[extname(path).toLowerCase()];
      if (!mime) {
        problems.push(`image ${target}: use PNG, JPEG, GIF or WebP (the Marketplace refuses SVG)`);
        return all;
      }
      let bytes;
      try {
        bytes = readFileSync(path);
      } catch {
        problems.push(`image ${target} does not exist`);
        return all;
      }
      return `![${text}](data:${mime};base64,${bytes.toString('base64')}${title})`;
    }
    const url = `${repository}/blob/HEAD/${path}${anchor === undefined ? '' : `#${anchor}`}`;
    return `[${text}](${url}${title})`;
  },
);

if (problems.length > 0) {
  console.error(`vsix-readme: README.md:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, result);
console.log(
  `vsix-readme: ${out} (${(Buffer.byteLength(result) / 1024).toFixed(0)} KiB, images embedded, links to ${repository})`,
);

// Regenerates package.json's contributes.configuration, contributes.commands and
// contributes.menus from src/settings.ts and src/commands.ts (run `npm run compile` first).
// The unit tests fail when package.json is out of step with them.
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const { contributedProperties } = require(path.join(root, 'out/src/settings.js'));
const { contributedCommands, contributedMenus } = require(path.join(root, 'out/src/commands.js'));

const file = path.join(root, 'package.json');
const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
pkg.contributes.commands = contributedCommands();
pkg.contributes.menus = contributedMenus();
pkg.contributes.configuration = {
  title: 'Tailor',
  properties: contributedProperties(),
};
fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n');
console.log(`updated ${file}`);

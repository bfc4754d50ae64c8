/** bnn-lab conventions: --help on every command, --version, unknown options, errors under --json. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { commandOptions } from '../../../core/cli/args';
import { COMMANDS, reportError } from '../../../core/cli/main';
import { PRESET_NAMES } from '../../../core/bnn/presetCatalog';
import { fixture } from '../checkpoints/helpers';
import { runCli, width } from './helpers';

const ROOT = join(__dirname, '..', '..', '..', '..');
const NAMES = ['train', 'finetune', 'presets', 'inspect', 'compare', 'series', 'export'];

/** stderr is exactly one JSON error object; returns it. */
function jsonError(stderr: string): Record<string, string> {
  const lines = stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr, got ${JSON.stringify(stderr)}`);
  const error = JSON.parse(lines[0]) as Record<string, string>;
  assert.equal(error.event, 'error');
  assert.equal(typeof error.message, 'string');
  assert.doesNotMatch(error.message, /\n|\s+at \S+ \(/, 'no stack trace');
  return error;
}

describe('bnn-lab --help', () => {
  it('the command table holds every command', () => {
    assert.deepEqual(
      COMMANDS.map((c) => c.name),
      NAMES,
    );
  });

  for (const name of NAMES) {
    for (const flag of ['--help', '-h']) {
      it(`${name} ${flag}: usage on stdout, exit 0, every option listed, 80 columns`, async () => {
        const { code, stdout, stderr } = await runCli([name, flag]);
        assert.equal(code, 0);
        assert.equal(stderr, '');
        assert.ok(stdout.startsWith(`Usage: bnn-lab ${name}`), stdout.slice(0, 80));
        const command = COMMANDS.find((c) => c.name === name);
        assert.ok(command);
        for (const o of commandOptions(command)) assert.ok(stdout.includes(`--${o.name}`), o.name);
        for (const line of stdout.split('\n')) assert.ok(width(line) <= 80, line);
      });
    }
  }

  it('--help wins over other arguments, even a wrong one', async () => {
    const { code, stdout } = await runCli(['inspect', '--frobnicate', '--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: bnn-lab inspect FILE/);
  });

  it('the top-level help lists every option of every command', async () => {
    for (const args of [['--help'], ['-h'], []]) {
      const { code, stdout, stderr } = await runCli(args);
      assert.equal(code, 0);
      assert.equal(stderr, '');
      for (const command of COMMANDS) {
        assert.ok(stdout.includes(`bnn-lab ${command.usage}`), command.name);
        for (const o of commandOptions(command)) {
          assert.ok(stdout.includes(`--${o.name}`), `${command.name} --${o.name}`);
        }
      }
      assert.match(stdout, /--binary-pattern REGEX/);
      assert.match(stdout, /--tau T/);
      assert.match(stdout, /--version/);
      assert.match(stdout, /BNN_LAB_DEBUG/);
      for (const line of stdout.split('\n')) assert.ok(width(line) <= 80, line);
    }
  });

  it('`bnn-lab help train` and `bnn-lab -h train` are `bnn-lab train --help`', async () => {
    const help = (await runCli(['train', '--help'])).stdout;
    assert.equal((await runCli(['help', 'train'])).stdout, help);
    assert.equal((await runCli(['-h', 'train'])).stdout, help);
  });

  it("--lr names each preset's schedule: step decay for the step presets", async () => {
    const { stdout } = await runCli(['train', '--help']);
    const lr = stdout.slice(stdout.indexOf('--lr'), stdout.indexOf('--seed'));
    assert.match(lr.replace(/\s+/g, ' '), /step decay at milestones for cifar10-bdn28/);
    assert.match(lr.replace(/\s+/g, ' '), /cosine decay to 0 for the others/);
  });
});

describe('bnn-lab --version', () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };

  for (const flag of ['--version', '-V']) {
    it(`${flag} prints the package version`, async () => {
      const { code, stdout, stderr } = await runCli([flag]);
      assert.equal(code, 0);
      assert.equal(stderr, '');
      assert.equal(stdout, `bnn-lab ${version}\n`);
    });
  }

  it('--version --json prints {"version"}', async () => {
    const { stdout } = await runCli(['--version', '--json']);
    assert.deepEqual(JSON.parse(stdout), { version });
  });
});

describe('bnn-lab bad usage', () => {
  for (const name of NAMES) {
    it(`${name} --frobnicate: one line naming the option, a --help hint, exit 2`, async () => {
      const { code, stdout, stderr } = await runCli([name, '--frobnicate']);
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.equal(
        stderr,
        `bnn-lab ${name}: unknown option --frobnicate; see bnn-lab ${name} --help\n`,
      );
    });
  }

  it('a near miss suggests the option', async () => {
    const { code, stderr } = await runCli(['train', '--batchsize', '8']);
    assert.equal(code, 2);
    assert.match(stderr, /unknown option --batchsize \(did you mean --batch-size\?\)/);
  });

  it('an unknown command or top-level option: one line, exit 2', async () => {
    const command = await runCli(['trian']);
    assert.equal(command.code, 2);
    assert.equal(command.stdout, '');
    assert.match(command.stderr, /^bnn-lab: unknown command "trian" \(commands: train, finetune/);
    assert.equal(command.stderr.split('\n').length, 2);
    const option = await runCli(['--frobnicate']);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /^bnn-lab: unknown option --frobnicate; see bnn-lab --help\n$/);
  });

  it('a missing value, a missing argument, a stray argument: exit 2 naming it', async () => {
    const missing = await runCli(['train', '--epochs']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^bnn-lab train: --epochs needs a value \(N\)/);
    const noFile = await runCli(['inspect']);
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr, /^bnn-lab inspect: inspect needs FILE/);
    const stray = await runCli(['train', 'extra']);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /train takes no arguments, got "extra"/);
    const switchValue = await runCli(['presets', '--json=yes']);
    assert.equal(switchValue.code, 2);
  });

  it('a config field set by an option is named by the option', async () => {
    const { code, stderr } = await runCli(['train', '--lr', '0']);
    assert.equal(code, 2);
    assert.equal(stderr, 'bnn-lab train: --lr must be a number in (0, 10], got 0\n');
  });

  it('a negative number is an option value, not an option', async () => {
    for (const args of [
      ['train', '--lr', '-0.5'],
      ['train', '--lr=-0.5'],
    ]) {
      const { code, stderr } = await runCli(args);
      assert.equal(code, 2);
      assert.equal(stderr, 'bnn-lab train: --lr must be a number in (0, 10], got -0.5\n');
    }
  });
});

describe('bnn-lab --json errors', () => {
  it('bad usage: one JSON object on stderr with the option and value, nothing on stdout', async () => {
    const { code, stdout, stderr } = await runCli(['train', '--json', '--lr', 'abc']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    const error = jsonError(stderr);
    assert.equal(error.field, '--lr');
    assert.equal(error.value, 'abc');
    assert.match(error.message, /--lr must be a number, got "abc"/);
  });

  it('a config value out of range names the option', async () => {
    const { code, stdout, stderr } = await runCli(['train', '--epochs', '0', '--json']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    const error = jsonError(stderr);
    assert.equal(error.field, '--epochs');
    assert.equal(error.value, '0');
  });

  it('inspect /nonexistent.pt --json: the error goes to stderr as JSON, exit 1', async () => {
    const { code, stdout, stderr } = await runCli(['inspect', '/nonexistent.pt', '--json']);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(jsonError(stderr).message, /\/nonexistent\.pt/);
  });

  it('a broken file, a missing argument, an unknown option: JSON on stderr for each command', async () => {
    const cases: [string[], number][] = [
      [['inspect', fixture('broken', 'os_system.pt'), '--json'], 1],
      [['compare', fixture('series', 'epoch-1'), '--json'], 2],
      [['series', fixture('broken', 'tfjs_short'), '--json'], 1],
      [['presets', '--frobnicate', '--json'], 2],
      [['finetune', '/nonexistent', '--method', 'lns', '--json'], 2],
      [['finetune', '/nonexistent', '--json'], 2],
      [['train', '--json', '--config', '/nonexistent.bnn.json'], 2],
      [['--json', 'trian'], 2],
      [['--json', '--frobnicate'], 2],
    ];
    for (const [args, exit] of cases) {
      const { code, stdout, stderr } = await runCli(args);
      assert.equal(code, exit, args.join(' '));
      assert.equal(stdout, '', args.join(' '));
      jsonError(stderr);
    }
  });

  it('the same errors without --json are one plain line', async () => {
    const { code, stdout, stderr } = await runCli(['inspect', '/nonexistent.pt']);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /^bnn-lab inspect: .*\/nonexistent\.pt.*\n$/);
  });
});

describe('bnn-lab presets --json', () => {
  it('prints every preset as JSON on one line', async () => {
    const { code, stdout } = await runCli(['presets', '--json']);
    assert.equal(code, 0);
    assert.equal(stdout.trimEnd().split('\n').length, 1);
    const { presets } = JSON.parse(stdout) as {
      presets: { name: string; params: number; binaryShare: number; schedule: string }[];
    };
    assert.deepEqual(
      presets.map((p) => p.name),
      [...PRESET_NAMES],
    );
    for (const p of presets) {
      assert.ok(p.params > 0 && p.binaryShare > 0 && p.binaryShare < 1, p.name);
    }
    assert.equal(presets.find((p) => p.name === 'cifar10-bdn28')?.schedule, 'step');
  });
});

describe('errors nobody planned for', () => {
  const bug = new TypeError("Cannot read properties of undefined (reading 'shape')");

  it('are one line without a stack trace, exit 1, with a hint to BNN_LAB_DEBUG', () => {
    const previous = process.env.BNN_LAB_DEBUG;
    delete process.env.BNN_LAB_DEBUG;
    try {
      let text = '';
      assert.equal(
        reportError(bug, COMMANDS[0], {}, false, (t) => (text += t)),
        1,
      );
      assert.equal(
        text,
        "bnn-lab train: internal error: Cannot read properties of undefined (reading 'shape') (set BNN_LAB_DEBUG=1 to see the stack trace)\n",
      );
      let json = '';
      reportError(bug, COMMANDS[0], {}, true, (t) => (json += t));
      assert.equal(jsonError(json).stack, undefined);
    } finally {
      if (previous !== undefined) process.env.BNN_LAB_DEBUG = previous;
    }
  });

  it('BNN_LAB_DEBUG=1 adds the stack', () => {
    const previous = process.env.BNN_LAB_DEBUG;
    process.env.BNN_LAB_DEBUG = '1';
    try {
      let text = '';
      reportError(bug, COMMANDS[0], {}, false, (t) => (text += t));
      assert.ok(text.includes(bug.stack ?? '?'));
      let json = '';
      reportError(bug, COMMANDS[0], {}, true, (t) => (json += t));
      assert.equal(JSON.parse(json).stack, bug.stack);
    } finally {
      if (previous === undefined) delete process.env.BNN_LAB_DEBUG;
      else process.env.BNN_LAB_DEBUG = previous;
    }
  });
});

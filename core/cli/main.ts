/** `bnn-lab` command line: the same engine as the extension, no VS Code. */
process.stdout.write('bnn-lab: under construction\n');

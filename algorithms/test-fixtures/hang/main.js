// A deliberately hung algorithm, for tests of the wall-clock timeout: it never exits.
setInterval(() => {}, 1 << 30);

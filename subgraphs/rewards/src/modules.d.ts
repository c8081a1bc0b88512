// snarkjs and ffjavascript ship no types; the worker casts what it uses.
declare module 'ffjavascript';

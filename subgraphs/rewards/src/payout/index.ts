export * from './erc20-payer.ts';

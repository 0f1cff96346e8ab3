/** Every CLI command, in the order `argo-sts --help` lists them. Add a command here. */
import type { Command } from '../command.ts';
import { approveCommand, denyCommand } from './approve.ts';
import { audit } from './audit.ts';
import { configCheck } from './config-check.ts';
import { demo } from './demo.ts';
import { devToken } from './dev-token.ts';
import { diagnoseCommand } from './diagnose.ts';
import { exchangeCommand, kubectlCredentialCommand } from './exchange.ts';
import { mcpCommand } from './mcp.ts';
import { keysGenerate } from './keys-generate.ts';
import { render } from './render.ts';
import { serve } from './serve.ts';

export const COMMANDS: readonly Command[] = [serve, configCheck, keysGenerate, render, exchangeCommand, kubectlCredentialCommand, diagnoseCommand, mcpCommand, approveCommand, denyCommand, demo, devToken, audit];

import type { ApolloServerPlugin } from '@apollo/server';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';

export const GRAPHIQL_PATH = '/graphiql';

/**
 * Apollo Sandbox in development. Sandbox loads from Apollo's CDN; when that cannot be
 * reached (offline machines), the page switches to the self-contained GraphiQL at /graphiql.
 */
export function sandboxWithOfflineFallback(): ApolloServerPlugin {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VibeStream · Apollo Sandbox</title>
<style>html,body{margin:0;height:100%;font-family:system-ui,sans-serif}#sandbox{position:absolute;inset:0}</style></head>
<body><div id="sandbox"></div>
<script>window.__fallback = function () { location.replace(${JSON.stringify(GRAPHIQL_PATH)}); };</script>
<script src="https://embeddable-sandbox.cdn.apollographql.com/_latest/embeddable-sandbox.umd.production.min.js" onerror="window.__fallback()"></script>
<script>
  if (window.EmbeddedSandbox) {
    new window.EmbeddedSandbox({ target: '#sandbox', initialEndpoint: location.origin + location.pathname, includeCookies: false });
  } else { window.__fallback(); }
</script>
<noscript>Open <a href="${GRAPHIQL_PATH}">GraphiQL</a>.</noscript>
</body></html>`;
  return {
    async serverWillStart() {
      return {
        async renderLandingPage() {
          return { html };
        },
      };
    },
  };
}

let graphiqlHtml: string | null = null;
export function graphiqlPage(endpoint = '/graphql'): string {
  graphiqlHtml ??= renderGraphiQL({ endpoint, title: 'VibeStream GraphiQL', subscriptionsProtocol: 'WS' });
  return graphiqlHtml;
}

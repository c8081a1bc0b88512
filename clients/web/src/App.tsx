import { useApolloClient, useMutation } from '@apollo/client/react';
import { LogoutDocument } from '../../generated/graphql.ts';
import { clearSession } from './auth/session.ts';
import { useSession } from './auth/useSession.ts';
import { Account } from './account/Account.tsx';
import { Door } from './loyalty/Door.tsx';
import { Events } from './loyalty/Events.tsx';
import { Tickets } from './loyalty/Tickets.tsx';
import { Market } from './market/Market.tsx';
import { Portfolio } from './market/Portfolio.tsx';
import { ArtistStudio } from './pages/Artist.tsx';
import { Notifications, NotificationsBadge } from './pages/Notifications.tsx';
import { SignIn, SignUp } from './pages/Auth.tsx';
import { ForgotPassword, ResetPasswordPage, VerifyEmailPage } from './pages/EmailOwnership.tsx';
import { Search } from './pages/Search.tsx';
import { UnsubscribePage } from './pages/Unsubscribe.tsx';
import { SongPage } from './pages/SongPage.tsx';
import { Rewards } from './rewards/Rewards.tsx';
import { AuthCallback, callbackPath } from './social/SocialSignIn.tsx';
import { Link, match, navigate, useLocation } from './router.tsx';

function Page({ path }: { path: string }) {
  const session = useSession();
  const needsSession = (page: React.ReactNode) => (session ? page : <SignIn />);
  let params: Record<string, string> | null;
  if (path === '/') return <Search />;
  if (path === '/signup') return <SignUp />;
  if (path === '/signin') return <SignIn />;
  if (path === callbackPath) return <AuthCallback />;
  if (path === '/forgot-password') return <ForgotPassword />;
  if (path === '/reset-password') return <ResetPasswordPage />;
  if (path === '/verify-email') return <VerifyEmailPage />;
  if (path === '/unsubscribe') return <UnsubscribePage />;
  if ((params = match('/songs/:id/market', path))) return <Market songId={params.id!} />;
  if ((params = match('/songs/:id', path))) return <SongPage id={params.id!} />;
  if (path === '/rewards') return needsSession(<Rewards />);
  if (path === '/portfolio') return needsSession(<Portfolio />);
  if (path === '/artist') return needsSession(<ArtistStudio />);
  if (path === '/notifications') return needsSession(<Notifications />);
  if (path === '/events') return <Events />;
  if (path === '/tickets') return needsSession(<Tickets />);
  if (path === '/door') return needsSession(<Door />);
  if (path === '/account') return needsSession(<Account />);
  return (
    <p>
      Nothing here. <Link to="/">Back to search</Link>
    </p>
  );
}

export function App() {
  const { path } = useLocation();
  const session = useSession();
  const client = useApolloClient();
  const [logout] = useMutation(LogoutDocument);

  const signOut = async () => {
    await logout().catch(() => undefined);
    clearSession();
    await client.clearStore();
    navigate('/');
  };

  return (
    <>
      <header className="top">
        <Link to="/" className="brand">
          VibeStream
        </Link>
        <nav aria-label="Main">
          <Link to="/">Search</Link>
          {session && <Link to="/rewards">Rewards</Link>}
          {session && <Link to="/portfolio">Portfolio</Link>}
          <Link to="/events">Concerts</Link>
          {session && <Link to="/tickets">My tickets</Link>}
          {session?.roles.includes('ARTIST') && <Link to="/door">Door</Link>}
          {session?.roles.includes('ARTIST') && <Link to="/artist">Studio</Link>}
          {session && <NotificationsBadge />}
          {session && <Link to="/account">Account</Link>}
        </nav>
        <div className="account">
          {session ? (
            <button type="button" className="link" onClick={() => void signOut()}>
              Sign out
            </button>
          ) : (
            <>
              <Link to="/signin">Sign in</Link> <Link to="/signup">Sign up</Link>
            </>
          )}
        </div>
      </header>
      <main>
        <Page path={path} />
      </main>
    </>
  );
}

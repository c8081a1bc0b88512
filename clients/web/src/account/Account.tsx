import { EmailSettings } from './EmailSettings.tsx';
import { LinkedProviders } from './LinkedProviders.tsx';
import { NotificationChannels } from './NotificationChannels.tsx';
import { Passkeys } from './Passkeys.tsx';
import { PushOptIn } from './PushOptIn.tsx';

/** The signed-in user's settings: how to reach them and how they sign in. */
export function Account() {
  return (
    <div className="account-page">
      <h1>Account</h1>
      <EmailSettings />
      <Passkeys />
      <LinkedProviders />
      <NotificationChannels />
      <PushOptIn />
    </div>
  );
}

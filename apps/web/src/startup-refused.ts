// A reason the web server will not start (a data file it cannot trust), told to the operator as one message.

export class StartupRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupRefused';
  }
}

import { Injectable, type OnModuleInit } from '@nestjs/common';

/**
 * Express handlers registered after Nest's routes and before its 404 handler: Nest registers its
 * routes, then runs `onModuleInit`, then adds the 404 and error handlers (the queue dashboard is
 * mounted the same way). Express tries its handlers in the order they were added, so the API's
 * routes (a submission above all) no longer walk past the ~15 handlers of the documents and the
 * page first; those answer paths no API route uses.
 */
@Injectable()
export class RoutesAfterApi implements OnModuleInit {
  private readonly registrations: (() => void)[] = [];
  private isRegistered = false;

  /** `register` runs when Nest initializes the application (at once if it already has). */
  add(register: () => void): void {
    if (this.isRegistered) register();
    else this.registrations.push(register);
  }

  onModuleInit(): void {
    this.isRegistered = true;
    for (const register of this.registrations.splice(0)) register();
  }
}
